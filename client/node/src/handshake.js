// Handshake refusals, as a socket's events report them, and the redial backoff.
//
// libzmq 4.3 never retries a connection whose handshake failed for a reason of the security
// mechanism (a ZAP refusal of a CURVE key, or a CURVE/NULL mismatch): that socket stays dead.
// The Client and the Worker therefore watch their socket's events for these two and, on one,
// close the Link and open a new one after redialDelay (0.5 s doubling to 5 s, as the C++
// client). Only connection events are observed, never messages.

export const REDIAL_FIRST_MS = 500;
export const REDIAL_MAX_MS = 5000;

// Milliseconds to wait before the next dial after `refusals` refusals in a row (>= 1).
export function redialDelay(refusals) {
  return Math.min(REDIAL_MAX_MS, REDIAL_FIRST_MS * 2 ** Math.min(refusals - 1, 16));
}

// The message for a refused handshake libzmq will not retry, or null for any other event.
// curve: the socket options of curve.load() (or null); who: 'client' or 'worker'. Names this
// peer's public key, never its secret key.
export function refusal(event, endpoint, curve, who) {
  if (event.type === 'handshake:error:auth') {
    const key = curve ? curve.curvePublicKey : '(none)';
    return `the broker at ${endpoint} refused this ${who}'s CURVE key ${key} (ZAP status ` +
      `${event.error?.status}): its .pub must be in the broker's --curve-allow-dir`;
  }
  if (event.type === 'handshake:error:protocol') {
    if (event.error?.code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
      return curve ?
        `the broker at ${endpoint} does not use CURVE, but this ${who} does (curveServerKey)` :
        `the broker at ${endpoint} requires CURVE: set curveServerKey and curveKeyFile`;
    }
    return `the handshake with the broker at ${endpoint} failed (${event.error?.code ?? 'ZMTP ' +
      'protocol error'}${curve ? '; is curveServerKey the broker\'s public key?' : ''})`;
  }
  // handshake:error:other is a connection lost during the handshake: libzmq reconnects.
  return null;
}
