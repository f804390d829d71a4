// One ZeroMQ DEALER speaking TM1: encodes and sends messages in order, receives and decodes
// them in a loop. Shared by the Client (to a frontend) and the Worker (to a backend).
// Lifecycle: new Link(...), open(), send()* , close(). Node is single-threaded, so the
// socket has one owner by construction; sends are chained because a zeromq.js socket
// allows one send in flight at a time.

import * as zmq from 'zeromq';

import {decodeFrames, encodeFrames} from './codec.js';
import {refusal} from './handshake.js';

export class Link {
  // onMessage(command, message) gets every valid message; onBadMessage(error) every frame
  // set that does not decode (it is dropped, as section 5 says); onConnect(count) each TCP
  // connection ZeroMQ establishes (count 1 is the first, later ones are reconnects).
  // routingId: the socket's identity; immediate: sends wait for a live connection instead
  // of queueing on a dead pipe; sendTimeoutMs: a send not accepted by then rejects (-1: never);
  // curve: the socket options of curve.load() (a CURVE client), or null.
  // onRefused(why) gets a refused handshake, which libzmq never retries (handshake.js): the
  // owner closes this Link and opens another later; onAccepted() each successful handshake;
  // who ('client' or 'worker') names the peer in the refusal.
  // onLost(why), for an owner with other endpoints to move to (issue 17): the connection
  // dropped ('disconnect': a broker's kill -9 at once, a silent one after the ZMTP heartbeat
  // timeout), or the first dial failed ('connect:retry' before any 'connect'); such a Link
  // also gives up a dial after 1 s (connectTimeout), so a host that never answers is left.
  constructor({endpoint, onMessage, onBadMessage = () => {}, onConnect = null, heartbeatMs = 0,
    routingId = null, immediate = false, sendTimeoutMs = -1, curve = null, onRefused = null,
    onAccepted = null, who = 'client', onLost = null}) {
    this.endpoint = endpoint;
    this.onMessage = onMessage;
    this.onBadMessage = onBadMessage;
    this.onConnect = onConnect;
    this.heartbeatMs = heartbeatMs;
    this.routingId = routingId;
    this.immediate = immediate;
    this.sendTimeoutMs = sendTimeoutMs;
    this.curve = curve;
    this.onRefused = onRefused;
    this.onAccepted = onAccepted;
    this.who = who;
    this.onLost = onLost;
    this.connects = 0;
    this.socket = null;
    this.sending = Promise.resolve();  // the tail of the send chain
    this.closed = false;
  }

  open() {
    const options = {linger: 0, sendHighWaterMark: 10000, receiveHighWaterMark: 10000,
      immediate: this.immediate, sendTimeout: this.sendTimeoutMs};
    if (this.routingId) options.routingId = this.routingId;
    // Set at construction, so before connect(): every socket a Link opens is a CURVE client.
    if (this.curve) Object.assign(options, this.curve);
    if (this.onLost) options.connectTimeout = 1000;
    if (this.heartbeatMs > 0) {
      // ZMTP heartbeats notice a silently dead peer and re-establish the connection.
      options.heartbeatInterval = this.heartbeatMs;
      options.heartbeatTimeout = this.heartbeatMs * 3;
      options.heartbeatTimeToLive = this.heartbeatMs * 3;
    }
    this.socket = new zmq.Dealer(options);
    if (this.onConnect || this.onRefused || this.onLost) this.watching = this.watchEvents(this.socket);
    this.socket.connect(this.endpoint);
    this.receiving = this.receiveLoop(this.socket);
    return this;
  }

  // Calls onConnect on every established connection (the first and each reconnect, e.g.
  // after a broker restart), as the C++ and Python clients do with a socket monitor, and
  // onRefused / onAccepted on the outcome of each handshake.
  async watchEvents(socket) {
    try {
      for await (const event of socket.events) {
        if (this.closed) return;
        if (event.type === 'connect') {
          this.onConnect?.(++this.connects);
        } else if (this.onLost && event.type === 'disconnect') {
          this.onLost('the connection was lost');
        } else if (this.onLost && event.type === 'connect:retry' && this.connects === 0) {
          this.onLost('nothing answers there');
        } else if (event.type === 'handshake') {
          this.onAccepted?.();
        } else if (this.onRefused) {
          const why = refusal(event, this.endpoint, this.curve, this.who);
          if (why) this.onRefused(why);
        }
      }
    } catch (err) {
      if (!socket.closed && !this.closed) this.onBadMessage(err);
    }
  }

  async receiveLoop(socket) {
    try {
      for await (const frames of socket) {
        let decoded;
        try {
          decoded = decodeFrames(frames);
        } catch (err) {
          this.onBadMessage(err);
          continue;
        }
        this.onMessage(decoded.command, decoded.message);
      }
    } catch (err) {
      // The socket was closed while a receive was pending: the loop ends.
      if (!socket.closed && !this.closed) this.onBadMessage(err);
    }
  }

  // Encodes now (so a bad message throws here, synchronously) and sends in order.
  // Resolves once ZeroMQ has queued the frames.
  send(command, message) {
    return this.sendFrames(encodeFrames(command, message));
  }

  // Sends frames already encoded (a request resent unchanged after a move), in order.
  sendFrames(frames) {
    const socket = this.socket;
    const sent = this.sending.then(() => {
      if (this.closed || socket.closed) throw new Error('link closed');
      return socket.send(frames);
    });
    this.sending = sent.catch(() => {});
    return sent;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.socket && !this.socket.closed) this.socket.close();
  }
}
