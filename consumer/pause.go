package consumer

import "slices"

// pauses returns which of the owned partitions to pause and which to
// resume, given those paused now: short of memory, only the partitions the
// lowest batch waits on are fetched. Held records (and dead letters waiting
// for their commit) past the held share pause the partitions it does not
// wait on; under 3/4 of it every paused partition resumes. Batches handed
// to the merge workers do not count: the pipeline bounds them. In the
// segment layout, a process that holds only some partitions reads none.
func (e *engine) pauses(owned, paused map[int32]bool) (pause, resume []int32) {
	if e.partial() {
		// Nothing can be released: read nothing until every partition
		// is here (see noteUnassigned).
		for p := range owned {
			if !paused[p] {
				pause = append(pause, p)
			}
		}
		return pause, nil
	}
	held := e.asm().PendingBytes() + e.led.DeadBytes()
	if held < e.lim.Held*3/4 {
		for p := range paused {
			resume = append(resume, p)
		}
		return nil, resume
	}
	e.wanted = e.asm().Wanted(e.wanted[:0], e.streamB)
	for p := range owned {
		switch want := slices.Contains(e.wanted, p); {
		case want && paused[p]:
			resume = append(resume, p)
		case !want && !paused[p] && held >= e.lim.Held:
			pause = append(pause, p)
		}
	}
	return pause, resume
}
