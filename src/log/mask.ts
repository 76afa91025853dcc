/**
 * Masking of personal data in logs: phone numbers keep their last 2 digits, emails their first letter
 * and domain. Logs are shared with people who need not see callers' details.
 */

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
// A run of digits with optional +, spaces, dashes, dots or parentheses between them, standing on its
// own: not inside an id (`CALL-20251023-075634-…`) or a time (`07:56:34`).
const PHONE = /(?<![\w.:-])\+?\d[\d\s().-]{5,}\d(?![\w:-])/g;
// Fewer digits than this is a date, a count or a status, not a phone number.
const MIN_PHONE_DIGITS = 9;

/** Mask a phone number: `+919999900001` → `+*********01`. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 4) return phone;
  return `${phone.trim().startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`;
}

/** Mask every email and phone number found in a free text. */
export function maskText(text: string): string {
  return text
    .replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`)
    .replace(PHONE, (m) => ((m.match(/\d/g)?.length ?? 0) >= MIN_PHONE_DIGITS ? maskPhone(m) : m));
}

/** Mask every string inside a value (objects and arrays deeply), leaving its shape as it is. */
export function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskDeep(v);
    return out;
  }
  return value;
}
