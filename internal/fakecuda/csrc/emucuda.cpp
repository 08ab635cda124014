/*
 * emucuda.cpp: the scheduler behind emucuda.h. A launch runs its blocks one
 * after another; within a block every CUDA thread is a fiber with its own
 * stack, and the fibers take turns: each runs until it waits at a barrier
 * (__syncthreads, a warp shuffle) or finishes, then the next one runs. A
 * barrier opens when every thread it waits for has arrived; threads that
 * have finished no longer count, as on the hardware. A round in which no
 * barrier opened and no thread finished means the block can never finish:
 * the launch fails, naming the kernel and the block.
 *
 * A fiber is started once on its stack with makecontext and then loops,
 * running the kernel body for one thread of each block it is given. Turns
 * are taken with _setjmp/_longjmp, which leave the signal mask alone:
 * swapcontext's two system calls per switch made a check of all kernels
 * take minutes instead of seconds.
 */
#include <setjmp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "emucuda.h"

emu_dim3 emu_grid_dim, emu_block_dim, emu_block_idx;
const emu_dim3 *emu_thread_idx;

// The bounds of the emu_shared section (emucuda.h's __shared__), which the
// linker defines; weak, for a library whose kernels use no shared memory.
extern "C" char __start_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_emu_shared[] __attribute__((weak, visibility("hidden")));

namespace {

enum { success = 0, invalidValue = 1, notSupported = 801, launchFailed = 719 };

// Limits of every GPU since compute capability 3.0.
constexpr unsigned maxBlockThreads = 1024, maxBlockZ = 64, maxGridYZ = 65535;
constexpr size_t stackBytes = 64 << 10;

struct barrier {
	unsigned expected = 0, arrived = 0, generation = 0;
};

struct fiber {
	jmp_buf turn;    // where the fiber continues
	bool started;    // its loop runs on its stack
	bool done;       // finished the current block
	emu_dim3 index;  // threadIdx
	unsigned linear; // x + y*bx + z*bx*by: its warp is linear/32
	char *stack;
};

// One launch at a time: a kernel's __shared__ statics belong to the block
// that is running.
std::mutex launchLock;
jmp_buf scheduler;
fiber fibers[maxBlockThreads]; // slots live as long as the process: fibers loop on their stacks
fiber *current;
barrier block;
std::vector<barrier> warps;
std::vector<unsigned long long> exchange; // one shuffle slot per thread
unsigned long long progress;              // barriers opened + threads finished
std::string failure;                      // first misuse seen in this launch
void (*body)(void **);
void **params;

// yield hands the turn back to the scheduler.
void yield(fiber *self) {
	if (!_setjmp(self->turn)) _longjmp(scheduler, 1);
}

void fail(const std::string &why) {
	if (failure.empty()) failure = why;
}

std::string blockName() {
	return "block (" + std::to_string(emu_block_idx.x) + "," + std::to_string(emu_block_idx.y) + "," +
	       std::to_string(emu_block_idx.z) + ")";
}

void release(barrier &b) {
	b.arrived = 0;
	b.generation++;
	progress++;
}

void wait(barrier &b) {
	fiber *self = current;
	unsigned generation = b.generation;
	if (++b.arrived == b.expected) {
		release(b);
		return;
	}
	while (b.generation == generation) yield(self);
}

// leave takes a finished thread out of a barrier it will never reach.
void leave(barrier &b) {
	b.expected--;
	if (b.arrived > 0 && b.arrived == b.expected) release(b);
}

// loop is fiber i's life: one thread of each block it is given.
void loop(int i) {
	for (;;) {
		fiber &f = fibers[i];
		body(params);
		f.done = true;
		progress++;
		leave(block);
		leave(warps[f.linear / 32]);
		yield(&f);
	}
}

// resume gives fiber f the turn until it waits or finishes.
void resume(fiber &f) {
	current = &f;
	emu_thread_idx = &f.index;
	if (_setjmp(scheduler)) return;
	if (f.started) _longjmp(f.turn, 1);
	f.started = true;
	ucontext_t here, start;
	getcontext(&start);
	start.uc_stack.ss_sp = f.stack;
	start.uc_stack.ss_size = stackBytes;
	start.uc_link = nullptr;
	makecontext(&start, (void (*)())loop, 1, (int)(&f - fibers));
	swapcontext(&here, &start); // returns through _longjmp(scheduler)
}

// stackFor returns fiber i's stack, mapped on first use with a guard page
// below it, so that an overflow faults instead of overwriting a neighbour.
char *stackFor(size_t i) {
	static std::vector<char *> stacks;
	while (stacks.size() <= i) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		void *m = mmap(nullptr, stackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) return nullptr;
		mprotect(m, page, PROT_NONE);
		stacks.push_back((char *)m + page);
	}
	return stacks[i];
}

int runBlock(const char *kernel, unsigned n) {
	if (__start_emu_shared != __stop_emu_shared) memset(__start_emu_shared, 0xff, __stop_emu_shared - __start_emu_shared);
	block = barrier{n, 0, 0};
	for (unsigned w = 0; w < warps.size(); w++) warps[w] = barrier{std::min(32u, n - 32 * w), 0, 0};
	for (unsigned i = 0; i < n; i++) fibers[i].done = false;
	for (unsigned live = n; live > 0;) {
		unsigned long long before = progress;
		for (unsigned i = 0; i < n; i++) {
			fiber &f = fibers[i];
			if (f.done) continue;
			resume(f);
			if (f.done) live--;
		}
		if (live > 0 && progress == before) {
			fail(std::to_string(live) + " threads of " + blockName() +
			     " wait at a barrier (__syncthreads or a warp shuffle) that the others never reach");
			// They stay stuck in this launch's body: start them afresh.
			for (fiber &f : fibers) f.started = f.started && f.done;
			break;
		}
	}
	if (failure.empty()) return success;
	fprintf(stderr, "fake CUDA: kernel %s: %s\n", kernel, failure.c_str());
	return launchFailed;
}

} // namespace

void emu_syncthreads() { wait(block); }

void emu_shfl_xor(const void *in, void *out, size_t size, unsigned int mask, int laneMask, int width) {
	fiber *self = current;
	unsigned lane = self->linear % 32, w = self->linear / 32;
	memcpy(&exchange[self->linear], in, size);
	wait(warps[w]);
	// Checked once the warp has met: lanes that return before the others
	// reach the shuffle are only gone by then.
	if (mask != 0xffffffffu || width != 32 || warps[w].expected != 32)
		fail("a warp shuffle in " + blockName() + " without all 32 lanes of its warp (mask " + std::to_string(mask) +
		     ", width " + std::to_string(width) + ", " + std::to_string(warps[w].expected) + " lanes running)");
	memcpy(out, &exchange[w * 32 + ((lane ^ (unsigned)laneMask) % 32)], size);
	wait(warps[w]); // nobody overwrites a slot before every lane has read
}

int emu_run(const char *kernel, const unsigned int *dims, unsigned int sharedBytes, void (*kernelBody)(void **),
	    void **kernelParams) {
	std::lock_guard<std::mutex> hold(launchLock);
	emu_grid_dim = emu_dim3{dims[0], dims[1], dims[2]};
	emu_block_dim = emu_dim3{dims[3], dims[4], dims[5]};
	unsigned long long n = (unsigned long long)dims[3] * dims[4] * dims[5];
	if (n == 0 || n > maxBlockThreads || dims[5] > maxBlockZ || dims[0] == 0 || dims[1] == 0 || dims[2] == 0 ||
	    dims[0] > 0x7fffffffu || dims[1] > maxGridYZ || dims[2] > maxGridYZ) {
		fprintf(stderr, "fake CUDA: kernel %s: grid (%u,%u,%u) x block (%u,%u,%u) exceeds a GPU's limits\n", kernel,
			dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]);
		return invalidValue;
	}
	if (sharedBytes != 0) {
		fprintf(stderr, "fake CUDA: kernel %s: dynamic shared memory is not emulated\n", kernel);
		return notSupported;
	}
	body = kernelBody;
	params = kernelParams;
	failure.clear();
	warps.resize((n + 31) / 32);
	exchange.resize(n);
	for (unsigned i = 0; i < n; i++) {
		fiber &f = fibers[i];
		f.linear = i;
		f.index = emu_dim3{i % dims[3], i / dims[3] % dims[4], i / (dims[3] * dims[4])};
		f.stack = stackFor(i);
		if (!f.stack) {
			fprintf(stderr, "fake CUDA: kernel %s: cannot map fiber stacks\n", kernel);
			return launchFailed;
		}
	}
	for (unsigned z = 0; z < dims[2]; z++)
		for (unsigned y = 0; y < dims[1]; y++)
			for (unsigned x = 0; x < dims[0]; x++) {
				emu_block_idx = emu_dim3{x, y, z};
				if (int err = runBlock(kernel, (unsigned)n)) return err;
			}
	return success;
}
