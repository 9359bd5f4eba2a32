package llm

import "sync"

// pool runs the parts of a parallel kernel on a fixed set of worker
// goroutines. Idle workers block on a channel; they never spin.
type pool struct {
	n     int
	tasks chan func()
	wg    sync.WaitGroup // running workers
}

// newPool starts n-1 workers (the caller of parallel is the n-th).
func newPool(n int) *pool {
	p := &pool{n: max(n, 1), tasks: make(chan func())}
	for range p.n - 1 {
		p.wg.Go(func() {
			for t := range p.tasks {
				t()
			}
		})
	}
	return p
}

// parallel calls f(w) for w in [0, p.n) concurrently and waits for all.
func (p *pool) parallel(f func(w int)) {
	if p.n == 1 {
		f(0)
		return
	}
	var done sync.WaitGroup
	done.Add(p.n - 1)
	for w := 1; w < p.n; w++ {
		p.tasks <- func() {
			defer done.Done()
			f(w)
		}
	}
	f(0)
	done.Wait()
}

// close stops the workers.
func (p *pool) close() {
	close(p.tasks)
	p.wg.Wait()
}
