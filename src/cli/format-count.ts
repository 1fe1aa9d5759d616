/** 1234567 → "1,234,567" (locale-independent, so output and tests are stable). */
export function formatCount(n: number): string {
  return Math.trunc(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
