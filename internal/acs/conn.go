package acs

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is what ACS and TCS sessions share: the websocket, a reader
// goroutine that hands frames to the session's loop, and the signals other
// goroutines send the loop (stop, resync). Only the session's loop writes
// data frames; close frames go through WriteControl, which gorilla allows
// concurrently.
type conn struct {
	ws          *websocket.Conn
	log         *slog.Logger
	readTimeout time.Duration

	// frames carries text frames from the reader; it is closed when reading
	// stops (agent gone, read timeout, close frame), readErr then says why.
	frames  chan []byte
	readErr error
	// gone is closed when the session is over, so that the reader never
	// blocks on a frame nobody will take.
	gone     chan struct{}
	goneOnce sync.Once

	stopOnce sync.Once
	stopCh   chan struct{}
	reason   stopReason // set once, before stopCh closes

	resyncCh chan struct{}
}

func newConn(ws *websocket.Conn, log *slog.Logger, readTimeout time.Duration) *conn {
	c := &conn{
		ws: ws, log: log, readTimeout: readTimeout,
		frames: make(chan []byte), gone: make(chan struct{}),
		stopCh: make(chan struct{}), resyncCh: make(chan struct{}, 1),
	}
	go c.read()
	return c
}

func (c *conn) read() {
	defer close(c.frames)
	for {
		c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = err
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		select {
		case c.frames <- data:
		case <-c.gone:
			return
		}
	}
}

// stop asks the session to end; the first reason given wins.
func (c *conn) stop(r stopReason) {
	c.stopOnce.Do(func() {
		c.reason = r
		close(c.stopCh)
	})
}

// resyncNow asks the session to re-read the store (it missed events).
func (c *conn) resyncNow() {
	select {
	case c.resyncCh <- struct{}{}:
	default:
	}
}

// errWrite marks a failed write: the agent is gone or not reading.
var errWrite = errors.New("acs: websocket write failed")

// send writes one frame.
func (c *conn) send(typ string, msg any) error {
	c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, encodeFrame(typ, msg)); err != nil {
		return fmt.Errorf("%w: %s: %w", errWrite, typ, err)
	}
	return nil
}

// closeWith sends a close frame, waits briefly for the agent's answering
// close frame (so that what was sent before is read, not reset), and drops
// the connection.
func (c *conn) closeWith(code int, text string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeTimeout))
	t := time.NewTimer(closeWait)
	defer t.Stop()
wait:
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				break wait
			}
		case <-t.C:
			break wait
		}
	}
	c.drop()
}

// drop closes the connection without a close frame and releases the reader.
func (c *conn) drop() {
	c.goneOnce.Do(func() { close(c.gone) })
	c.ws.Close()
}
