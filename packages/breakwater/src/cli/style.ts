// Whether an output stream is a terminal, whether it gets colour, and the few colours the CLI
// uses. Colour on a terminal, unless NO_COLOR is set to anything (https://no-color.org); anywhere
// with FORCE_COLOR, unless it is 0 or false (commander reads both the same way for the help).
// Off a terminal (CI, pipes, files) nothing but text: no escape code. Six SGR codes rather than a
// dependency; node:util's styleText only reads the stream and the environment from Node 22.13.

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** A terminal a person watches: a TTY, and not a CI runner that gives one. */
export function isTerminal(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.CI;
}

export function colorEnabled(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return false;
  if (env.FORCE_COLOR) return true;
  return isTerminal(stream, env) && env.TERM !== "dumb";
}

export type Paint = (text: string) => string;

export interface Palette {
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
}

const sgr = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;

function palette(on: boolean): Palette {
  const paint = ([open, close]: readonly [number, number]): Paint => (on ? (text) => (text ? `\x1b[${open}m${text}\x1b[${close}m` : text) : (text) => text);
  return { bold: paint(sgr.bold), dim: paint(sgr.dim), red: paint(sgr.red), green: paint(sgr.green), yellow: paint(sgr.yellow), cyan: paint(sgr.cyan) };
}

/** The colours for a stream: each one leaves the text as it is when the stream gets no colour. */
export function paletteFor(stream: OutputStream, env: NodeJS.ProcessEnv = process.env): Palette {
  return palette(colorEnabled(stream, env));
}

/** Colours always on, for text that is stripped later when its stream gets none (commander's help). */
export const ansi: Palette = palette(true);
