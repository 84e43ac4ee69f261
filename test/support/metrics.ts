/** Test support: reading the Prometheus text of `GET /metrics`. */

/** The value of the sample line `name{labels} value` (exact name and labels), or undefined. */
export function sample(text: string, nameAndLabels: string): number | undefined {
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (!line.startsWith('#') && sp > 0 && line.slice(0, sp) === nameAndLabels) return Number(line.slice(sp + 1));
  }
  return undefined;
}
