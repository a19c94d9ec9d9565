/** A `tug` subcommand's signature: argv, stdout and stderr writers, the exit code. */
type Command<R> = (argv: string[], out: (s: string) => void, err: (s: string) => void) => R;

/** Runs a synchronous subcommand in-process, capturing what it writes. */
export function runSync(
  command: Command<number>,
  argv: string[],
): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = command(
    argv,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out, err };
}

/** The same for subcommands that return a promise. */
export async function runAsync(
  command: Command<Promise<number>>,
  argv: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await command(
    argv,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out, err };
}
