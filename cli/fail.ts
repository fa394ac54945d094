// The CLI's one way to stop on a user-facing error: the message on stderr, exit code 1.

export const fail = (message: string): never => {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
};
