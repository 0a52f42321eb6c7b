// Fiber context switch for x86_64 (System V ABI). See runtime/fiber.hpp.
//
// Only callee-saved state is switched: rbx, rbp, r12-r15, the SSE control/status word (MXCSR)
// and the x87 control word; everything else is caller-saved, so the compiler already spilled it
// around the call. A saved context, from the stack pointer up:
//     [MXCSR, x87 CW] [r15] [r14] [r13] [r12] [rbx] [rbp] [return address]

    .text

// void amb_fiber_switch(void** save /* rdi */, void* next /* rsi */)
    .globl amb_fiber_switch
    .type amb_fiber_switch, @function
    .p2align 4
amb_fiber_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size amb_fiber_switch, .-amb_fiber_switch

// First code a new fiber runs: entry (r13) with its argument (r12). The stack is 16-byte aligned
// here, as the call requires. entry never returns.
    .type amb_fiber_trampoline, @function
    .p2align 4
amb_fiber_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size amb_fiber_trampoline, .-amb_fiber_trampoline

// void* amb_fiber_make_context(void* top /* rdi */, void (*entry)(void*) /* rsi */,
//                              void* argument /* rdx */)
    .globl amb_fiber_make_context
    .type amb_fiber_make_context, @function
    .p2align 4
amb_fiber_make_context:
    .cfi_startproc
    movq %rdi, %rax
    andq $-16, %rax
    // rax = the return-address slot; after `ret` pops it the stack is 16-byte aligned.
    subq $24, %rax
    movq $0, 8(%rax)                    // a null return address ends backtraces
    leaq amb_fiber_trampoline(%rip), %rcx
    movq %rcx, (%rax)
    movq $0, -8(%rax)                   // rbp
    movq $0, -16(%rax)                  // rbx
    movq %rdx, -24(%rax)                // r12: argument
    movq %rsi, -32(%rax)                // r13: entry
    movq $0, -40(%rax)                  // r14
    movq $0, -48(%rax)                  // r15
    movl $0x1f80, -56(%rax)             // MXCSR: default, all exceptions masked
    movl $0x037f, -52(%rax)             // x87 control word: default
    subq $56, %rax
    ret
    .cfi_endproc
    .size amb_fiber_make_context, .-amb_fiber_make_context

    .section .note.GNU-stack, "", @progbits
