// What a CLI command gets: where to write and where it runs. Commands return their exit
// code (0 success, 1 a check failed, 2 bad input) instead of calling process.exit, so
// tests run them in-process.
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Lines of standard input, for commands that read it (`-`). */
  stdin?: () => Promise<string>;
}

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

/** A CLI failure that carries its exit code and a message for the user (no stack trace). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_BAD_INPUT,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
