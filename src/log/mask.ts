/**
 * Masking of personal data in logs: phone numbers keep their last 2 digits, emails their first letter
 * and domain. Logs are shared with people who need not see callers' details.
 */

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
// A run of digits with optional +, spaces, dashes, dots or parentheses between them, standing on its
// own: not inside an id (`CALL-20251023-075634-…`), a time (`07:56:34`) or what is masked already (`*…01`).
const PHONE = /(?<![\w.:*-])\+?\d[\d\s().-]{5,}\d(?![\w:-])/g;
// Fewer digits than this is a date, a count or a status, not a phone number.
const MIN_PHONE_DIGITS = 9;

// Digits joined to a name by `_`, as egress names its files (`number-_919999900001-1761745857.ogg`): `_`
// is a word character, so PHONE's look-behind lets them through.
const UNDERSCORED_PHONE = /(?<=_)\+?\d{9,15}(?![\dA-Za-z])/g;
// A URL in free text: everything up to a space or a quote.
const URL_IN_TEXT = /\b(?:https?|rediss?|wss?):\/\/[^\s"'<>]+/gi;

/**
 * A URL with its secrets taken out, for logs (docs/architecture.md, "Security" → "Secrets"): the user and
 * password become `***`, and every query value `***` (API keys travel there: `?api_key=…`); the scheme,
 * host, port and path stay. Text that is not a URL is returned as it is.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  // Nothing secret: the text as it was (URL's own spelling would add a `/` to a bare origin, and a log
  // line's address is copied into requests).
  if (url.username === '' && url.password === '' && url.search === '') return text;
  if (url.username !== '' || url.password !== '') {
    url.username = '***';
    url.password = url.password === '' ? '' : '***';
  }
  if (url.search !== '') {
    const keys = [...new Set([...url.searchParams.keys()])];
    url.search = keys.map((k) => `${encodeURIComponent(k)}=***`).join('&');
  }
  return url.toString().replace(/%2A%2A%2A/g, '***');
}

/** Every URL inside a free text redacted (`redactUrl`). */
export function redactUrls(text: string): string {
  return text.includes('://') ? text.replace(URL_IN_TEXT, (m) => redactUrl(m)) : text;
}

/** Mask a phone number: `+919999900001` → `+*********01`. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 4) return phone;
  return `${phone.trim().startsWith('+') ? '+' : ''}${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`;
}

/** Mask every email and phone number found in a free text (and redact the secrets of every URL in it). */
export function maskText(text: string): string {
  return redactUrls(text)
    .replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`)
    .replace(PHONE, (m) => ((m.match(/\d/g)?.length ?? 0) >= MIN_PHONE_DIGITS ? maskPhone(m) : m))
    // After PHONE, which would otherwise take the masked digits together with the epoch after them.
    .replace(UNDERSCORED_PHONE, (m) => maskPhone(m));
}

/** Redact the secrets of every URL inside a value (deeply), personal data left readable (`--show-pii`). */
export function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return redactUrls(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out;
  }
  return value;
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
