/** Test support: stopping everything of one kind a support module started. */

/**
 * Takes every item out of `started` and stops them all at once; a failure to stop one is
 * ignored (it is gone, or cannot be helped), so this never throws.
 */
export async function stopEach<T>(started: Set<T>, stop: (item: T) => Promise<void>): Promise<void> {
  const all = [...started];
  started.clear();
  await Promise.all(all.map((item) => stop(item).catch(() => undefined)));
}
