/** What every secret is replaced with, wherever it would have been shown. */
export const CENSOR = "[REDACTED]";

/** `scheme://user:password@` anywhere in a text. */
export const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s"]+@/gi;

/** The text with the credentials of every URL in it replaced. */
export function hideUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${CENSOR}@`);
}
