package nprand

// TorchBaseSeed returns the base_seed a PyTorch DataLoader draws when it is
// iterated after torch.manual_seed(manualSeed), assuming nothing else used
// torch's default CPU generator in between: that generator is an MT19937
// seeded by init_genrand, and random_() on int64 takes a 64-bit draw (first
// 32-bit output high) modulo 2^63.
func TorchBaseSeed(manualSeed uint32) uint64 {
	return New(manualSeed).Uint64() & (1<<63 - 1)
}

// TorchWorkerSeedWords returns the four words PyTorch's worker start-up
// (torch.utils.data._utils.worker._generate_state) passes to
// np.random.seed for worker workerID: the SeedSequence hash of the entropy
// [workerID, low word of baseSeed, high word of baseSeed, 0].
func TorchWorkerSeedWords(baseSeed uint64, workerID uint32) [4]uint32 {
	w := NewSeedSequence(workerID, uint32(baseSeed), uint32(baseSeed>>32), 0).GenerateState(4)
	return [4]uint32(w)
}

// NewTorchWorker returns the legacy numpy RandomState of DataLoader worker
// workerID after torch.manual_seed(manualSeed) in the main process (see
// TorchBaseSeed for the assumption this makes).
func NewTorchWorker(manualSeed, workerID uint32) *RandomState {
	w := TorchWorkerSeedWords(TorchBaseSeed(manualSeed), workerID)
	r := &RandomState{}
	r.initByArray(w[:])
	return r
}
