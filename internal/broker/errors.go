package broker

import "errors"

// ErrClosed is returned by a broker's methods after Close.
var ErrClosed = errors.New("broker: closed")
