package statedb

import (
	"context"
	"sync"
)

// Memory is a DB held in memory; it forgets everything with the process.
type Memory struct {
	mu       sync.Mutex
	tasks    map[string][]byte
	instance string
	closed   bool
}

var _ DB = (*Memory)(nil)

// NewMemory returns an empty in-memory DB.
func NewMemory() *Memory { return &Memory{tasks: map[string][]byte{}} }

func (m *Memory) check(ctx context.Context) error {
	if m.closed {
		return ErrClosed
	}
	return ctx.Err()
}

// SaveTask implements DB.
func (m *Memory) SaveTask(ctx context.Context, arn string, record []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.tasks[arn] = append([]byte(nil), record...)
	return nil
}

// DeleteTask implements DB.
func (m *Memory) DeleteTask(ctx context.Context, arn string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	delete(m.tasks, arn)
	return nil
}

// LoadTasks implements DB.
func (m *Memory) LoadTasks(ctx context.Context) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(m.tasks))
	for k, v := range m.tasks {
		out[k] = append([]byte(nil), v...)
	}
	return out, nil
}

// InstanceARN implements DB.
func (m *Memory) InstanceARN(ctx context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return "", err
	}
	return m.instance, nil
}

// SetInstanceARN implements DB.
func (m *Memory) SetInstanceARN(ctx context.Context, arn string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.instance = arn
	return nil
}

// Close implements DB.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
