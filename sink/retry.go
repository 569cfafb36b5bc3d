package sink

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/cenkalti/backoff/v4"
)

// minAttemptTimeout bounds one attempt of a retried write, so that a
// server that accepts connections but never answers cannot hang the
// caller; an attempt may take max(InsertMaxElapsed, minAttemptTimeout).
const minAttemptTimeout = 30 * time.Second

// transientCode reports whether a ClickHouse exception code is worth
// retrying: the server is overloaded, restarting or briefly unable to take
// the write.
func transientCode(code int32) bool {
	switch code {
	case 3, // UNEXPECTED_END_OF_FILE
		159, // TIMEOUT_EXCEEDED
		202, // TOO_MANY_SIMULTANEOUS_QUERIES
		203, // NO_FREE_CONNECTION
		209, // SOCKET_TIMEOUT
		210, // NETWORK_ERROR
		236, // ABORTED
		241, // MEMORY_LIMIT_EXCEEDED
		225, // NO_ZOOKEEPER
		242, // TABLE_IS_READ_ONLY
		252, // TOO_MANY_PARTS
		279, // ALL_CONNECTION_TRIES_FAILED (every replica of a shard down)
		285, // TOO_FEW_LIVE_REPLICAS (insert quorum)
		286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
		319, // UNKNOWN_STATUS_OF_INSERT
		394, // QUERY_WAS_CANCELLED
		425, // SYSTEM_ERROR
		999: // KEEPER_EXCEPTION
		return true
	}
	return false
}

// Retryable reports whether err, returned by a ClickHouse operation, is
// transient: a network failure (connection refused, reset, broken pipe,
// timeout, unexpected EOF), a server exception whose code says it is
// overloaded or restarting, or a cluster read that lacked rows this Sink
// wrote (a replica still fetching them). Schema and type errors, a closed
// Sink and a cancelled context are not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var stale *staleReplicaError
	if errors.As(err, &stale) {
		return true
	}
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		return transientCode(exc.Code)
	}
	if errors.Is(err, clickhouse.ErrConnectionClosed) {
		return false // the pool is closed: the Sink was closed
	}
	if errors.Is(err, clickhouse.ErrAcquireConnTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, sqldriver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "on closed connection") || strings.Contains(msg, "connection reset")
}

// retry runs op until it succeeds, fails with an error that is not
// Retryable, ctx ends, or Config.InsertMaxElapsed has passed, backing off
// exponentially between attempts. Each attempt gets its own deadline. The
// returned error says how many attempts were made.
func (s *Sink) retry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	b.MaxElapsedTime = s.cfg.InsertMaxElapsed
	attemptTimeout := max(s.cfg.InsertMaxElapsed, minAttemptTimeout)

	start := time.Now()
	attempts := 0
	var last error
	transient := false
	_ = backoff.RetryNotify(func() error {
		attempts++
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		last = op(actx)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil || !Retryable(last) {
			transient = false
			return backoff.Permanent(last)
		}
		transient = true
		return last
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		s.log.Warn("clickhouse write failed, retrying", "op", what, "attempt", attempts, "wait", wait, "err", err)
	})
	switch {
	case last == nil:
		if attempts > 1 {
			s.log.Info("clickhouse write succeeded after retries", "op", what, "attempts", attempts)
		}
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w (after %d attempts; last error: %v)", what, context.Cause(ctx), attempts, last)
	case transient:
		return fmt.Errorf("%s: gave up after %d attempts over %s: %w", what, attempts, time.Since(start).Round(time.Millisecond), last)
	default:
		return fmt.Errorf("%s: %w", what, last)
	}
}
