import { describeError } from '../shared/errors';

// The CLI's one way to stop on a user-facing error: the message on stderr, exit code 1.

export const fail = (message: string): never => {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
};

/** Stops on a caught error, described by the shared hierarchy (an API problem's title first). */
export const failWith = (err: unknown): never => fail(describeError(err));
