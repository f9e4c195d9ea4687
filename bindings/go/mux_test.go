package connpool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

func TestMuxQueryRowManyGoroutines(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(4), connpool.WithMultiplexingConnections(2))
	ctx := ctxTimeout(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				want := g*1000 + i
				var got int
				if err := p.QueryRow(ctx, "SELECT $1::int", want).Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- fmt.Errorf("got %d, want %d", got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := mustStat(t, p); s.InUse != 2 {
		t.Fatalf("in use = %d, want the 2 shared connections", s.InUse)
	}
}

func TestMuxExecErrorsAndRefusals(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2), connpool.WithMultiplexingConnections(1))
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := p.Exec(ctx, "SELECT 1 / 0"); err == nil {
		t.Fatal("division by zero succeeded")
	} else {
		var pg *connpool.PgError
		if !errors.As(err, &pg) || pg.SQLState() != "22012" {
			t.Fatalf("err = %v, want a PgError 22012", err)
		}
	}
	if _, err := p.Exec(ctx, "BEGIN"); err == nil {
		t.Fatal("BEGIN was accepted")
	}
	r, err := p.Exec(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if r.RowsAffected() != 1 {
		t.Fatalf("RowsAffected = %d", r.RowsAffected())
	}
}

func TestMuxContextDeadline(t *testing.T) {
	p := newPool(t, connpool.WithMaxSize(2), connpool.WithMultiplexingConnections(1))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Exec(ctx, "SELECT pg_sleep(1)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Fatalf("took %v", time.Since(start))
	}
	var n int
	if err := p.QueryRow(ctxTimeout(t, 10*time.Second), "SELECT 5").Scan(&n); err != nil || n != 5 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
}
