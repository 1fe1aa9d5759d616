const pad = (n: number): string => String(n).padStart(2, '0');

/** Local time as "YYYY-MM-DD HH:MM:SS" (ISO 8601 with a space, no milliseconds). */
export function formatTime(iso: string | Date): string {
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}
