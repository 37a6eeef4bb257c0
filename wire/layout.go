package wire

// Layouts: how a producer places the records of a batch on a topic's P
// partitions.
const (
	// LayoutSegment puts segment s of every batch on partition s mod P,
	// as the original producer did: a batch spans partitions, and each
	// partition holds its segments in ascending batch order.
	LayoutSegment = "segment"
	// LayoutBatch puts every record of batch b on partition b mod P,
	// keyed by b: a batch sits whole in one partition.
	LayoutBatch = "batch"
)
