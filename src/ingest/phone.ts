/**
 * Phone numbers: E.164 normalisation with libphonenumber-js, and the comparison rule of matching
 * (the last 10 digits).
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/**
 * Normalise to E.164 (`+919999900001`) using `region` for national numbers. A value that cannot be
 * parsed as a phone number is returned with only its digits and a leading `+` kept when it had one,
 * so that nothing the caller gave is silently dropped; `""` stays `""`.
 */
export function toE164(raw: string | null | undefined, region: string): string {
  const text = (raw ?? '').trim();
  if (text === '') return '';
  // Egress file names carry the digits with the country code but without '+'.
  const candidates = /^\d{11,15}$/.test(text) ? [`+${text}`, text] : [text];
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(candidate, region as CountryCode);
    if (parsed && parsed.isPossible()) return parsed.number;
  }
  const digits = text.replace(/\D/g, '');
  return digits === '' ? '' : `${text.startsWith('+') ? '+' : ''}${digits}`;
}

/** The last 10 digits of a number, the key under which two numbers are the same caller. */
export function phoneKey(raw: string | null | undefined): string {
  return (raw ?? '').replace(/\D/g, '').slice(-10);
}

/** True when both numbers are given and agree on their last 10 digits. */
export function samePhone(a: string | null | undefined, b: string | null | undefined): boolean {
  const ka = phoneKey(a);
  return ka !== '' && ka === phoneKey(b);
}
