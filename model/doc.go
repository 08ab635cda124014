// Package model is the Tiny Recursion Model (TRM) of the reference code
// (spec/reference-model.md): configuration, named parameters, forward pass
// with the ACT wrapper and loss head, a hand-written backward pass, and the
// optimisers, over any kernels.Backend (float32 to train, float64 for
// gradient checks).
//
// # Layout
//
// Memory is laid out once by New, llm.c style:
//
//   - Params is one flat buffer holding every trainable parameter in the
//     reference's state_dict order; Grads mirrors it. Tensors (and Tensor by
//     name) gives named views with state_dict names and shapes, so
//     checkpoints map one to one onto the reference's (keys prefixed by
//     StateDictPrefix, or "model.inner." for an uncompiled model).
//   - H_init and L_init are separate buffers (fixed, bfloat16-valued).
//   - PuzzleEmb is the puzzle-embedding table as one flat buffer
//     [num_puzzle_identifiers, puzzle_emb_ndim]. It is never copied or
//     updated densely: Forward gathers the batch's rows, Backward writes one
//     gradient row per batch row into PuzzleEmbGrad (ids in PuzzleEmbIDs),
//     and SignSGD updates only those rows.
//   - Activations: the recursion applies the network H_cycles·(L_cycles+1)
//     times; every cycle writes into the same L_cycles+1 slots (one per
//     network call, each with its blocks' saved tensors), so after Forward
//     the slots hold the last cycle, exactly what Backward needs.
//
// # A training step
//
//	m, _ := model.New(cfg, cpu.New32(0), seed)
//	adam := model.NewAdamATan2(m, 0.9, 0.95, wd)
//	sgd := model.NewSignSGD[float32](puzzleWD)
//	carry := m.NewCarry()
//	for step := 1; ; step++ {
//		out, err := m.Forward(carry, batch, true) // one ACT step, loss and metrics
//		err = m.Backward(1 / float64(globalBatch)) // grads of loss/global batch
//		err = sgd.Step(m, puzzleSchedule.LR(step))
//		adam.Step(schedule.LR(step))
//	}
//
// The carry persists across batches as in the reference: halted rows restart
// on the new batch's row, the others keep their data (quirk Q-M1).
// Evaluation uses Forward with train false on a fresh carry until
// StepOutput.AllHalted.
//
// # Fidelity
//
// Parity tests bind the float32 and float64 models to spec/model-golden.json
// (testdata/model-golden.json): every ACT step's outputs, loss and metrics,
// every gradient, and the parameters after one optimiser step. The
// reference computes in bfloat16 on GPU; this package computes in the
// backend's type (the golden file was produced in float32). Random draws
// (initialisation, ACT exploration) come from seeded streams: the same seed
// gives the same run, but not the reference's torch draws.
package model
