package broker

import "errors"

// ErrClosed is returned by a broker's methods after Close.
var ErrClosed = errors.New("broker: closed")

// ErrUnknownKind is returned by Publish for an event whose Kind is not
// Known: no process could make sense of it.
var ErrUnknownKind = errors.New("broker: event of unknown kind")
