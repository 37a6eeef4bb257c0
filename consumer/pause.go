package consumer

import "slices"

// pauses returns which of the owned partitions to pause and which to
// resume, given those paused now: short of memory, only the partitions the
// lowest batch waits on are fetched. Held records past the held share
// pause the partitions it does not wait on; under 3/4 of it every paused
// partition resumes. Batches handed to the merge workers do not count:
// the pipeline bounds them.
func (e *engine) pauses(owned, paused map[int32]bool) (pause, resume []int32) {
	held := e.asm().PendingBytes()
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
