import { Context } from '@temporalio/activity';

/** The activity context when running inside a Temporal activity; undefined on the direct path. */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
