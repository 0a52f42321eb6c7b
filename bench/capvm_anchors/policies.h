/* The benchmark policies in C, compiled to eBPF (clang -target bpf -Os) and WebAssembly
 * (clang --target=wasm32 -Os) to size their bytecode, and to native code as the reference.
 * The validation context arrives through external functions, as a VM host would provide it
 * (eBPF helpers, Wasm imports). Same expressions as the CapVM policies in capvm_bench.cpp.
 * No headers: the eBPF and Wasm targets have no C library. */
#ifndef AMB_CAPVM_ANCHOR_POLICIES_H
#define AMB_CAPVM_ANCHOR_POLICIES_H

long long now(void);
long long endpoint(void);
long long battery(void);

#endif
