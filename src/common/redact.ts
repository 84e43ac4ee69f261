/**
 * Masks secrets in text bound for logs: tokens in URLs and headers, passwords in
 * connection URLs, and JWT-shaped strings anywhere.
 */
export function redact(text: string): string {
  return text
    .replace(/([?&](?:token|access_token|api_key|key)=)[^&\s"']+/gi, '$1[redacted]')
    .replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/(\w+:\/\/)([^:/@\s]*):([^@\s]+)@/g, '$1$2:[redacted]@')
    .replace(/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]');
}
