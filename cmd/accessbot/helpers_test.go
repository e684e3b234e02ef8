package main

import (
	"io"

	"github.com/rs/zerolog"
)

func testLogger() zerolog.Logger { return zerolog.New(io.Discard) }
