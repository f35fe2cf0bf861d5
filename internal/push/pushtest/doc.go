// Package pushtest helps test Web Push without the world: a push service on
// loopback that decrypts what it receives as a browser would and checks
// the VAPID token, a clock that moves only when told, and the contract
// every push.KeyStore passes.
//
// The decryption and the token check here are written from RFC 8291 and
// RFC 8292 with the standard library, apart from the sending code of
// package push, so that a test of one checks the other.
package pushtest
