/**
 * Reading the Prometheus text format in tests.
 */

/** The value of one sample line (`name{labels} value`) of a Prometheus text, or undefined. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
