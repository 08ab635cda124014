package dist

import (
	"fmt"
	"net"
	"strconv"
)

// FromEnv reads torchrun's variables through getenv: WORLD_SIZE, RANK,
// MASTER_ADDR, MASTER_PORT. ok is false (and err nil) when WORLD_SIZE is
// unset or empty (a single-process run). Errors name the variable and its
// value: non-integer, WORLD_SIZE < 1, RANK outside [0, WORLD_SIZE), missing
// MASTER_ADDR/MASTER_PORT when WORLD_SIZE > 1, bad port, and torchrun's
// static rendezvous, whose store holds MASTER_PORT. WORLD_SIZE=1
// returns ok=true with Rank 0 (callers treat a 1-process group like no
// group). localRank is LOCAL_RANK (default: RANK), for choosing the GPU.
func FromEnv(getenv func(string) string) (cfg Config, localRank int, ok bool, err error) {
	ws := getenv("WORLD_SIZE")
	if ws == "" {
		return Config{}, 0, false, nil
	}
	n, err := strconv.Atoi(ws)
	if err != nil {
		return Config{}, 0, false, fmt.Errorf("dist: WORLD_SIZE=%q is not an integer", ws)
	}
	if n < 1 {
		return Config{}, 0, false, fmt.Errorf("dist: WORLD_SIZE=%q, want at least 1", ws)
	}
	cfg.WorldSize = n

	// A 1-process run may come without RANK; any other needs it, or every
	// process would claim rank 0.
	s := getenv("RANK")
	if s == "" && n > 1 {
		return Config{}, 0, false, fmt.Errorf("dist: RANK is unset; WORLD_SIZE=%d needs each process's rank", n)
	}
	if s != "" {
		r, err := strconv.Atoi(s)
		if err != nil {
			return Config{}, 0, false, fmt.Errorf("dist: RANK=%q is not an integer (WORLD_SIZE=%d)", s, n)
		}
		if r < 0 || r >= n {
			return Config{}, 0, false, fmt.Errorf("dist: RANK=%q is outside [0, WORLD_SIZE=%d)", s, n)
		}
		cfg.Rank = r
	}

	localRank = cfg.Rank
	if s := getenv("LOCAL_RANK"); s != "" {
		if localRank, err = strconv.Atoi(s); err != nil || localRank < 0 {
			return Config{}, 0, false, fmt.Errorf("dist: LOCAL_RANK=%q is not a non-negative integer", s)
		}
	}

	if n > 1 {
		// torchrun's default static rendezvous serves its own store on
		// MASTER_PORT (and says so in this variable); its c10d rendezvous
		// leaves the port to the job.
		if getenv("TORCHELASTIC_USE_AGENT_STORE") == "True" {
			return Config{}, 0, false, fmt.Errorf("dist: torchrun's static rendezvous keeps MASTER_PORT=%s for its own store; "+
				"start torchrun with --standalone (one machine) or --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT, which leave it to trm",
				getenv("MASTER_PORT"))
		}
		host, port := getenv("MASTER_ADDR"), getenv("MASTER_PORT")
		if host == "" {
			return Config{}, 0, false, fmt.Errorf("dist: MASTER_ADDR is unset; WORLD_SIZE=%d needs rank 0's address", n)
		}
		if port == "" {
			return Config{}, 0, false, fmt.Errorf("dist: MASTER_PORT is unset; WORLD_SIZE=%d needs rank 0's port", n)
		}
		// Port 0 would let rank 0 listen on a port nobody else knows.
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return Config{}, 0, false, fmt.Errorf("dist: MASTER_PORT=%q is not a port in [1, 65535]", port)
		}
		cfg.Addr = net.JoinHostPort(host, port)
	}
	return cfg, localRank, true, nil
}
