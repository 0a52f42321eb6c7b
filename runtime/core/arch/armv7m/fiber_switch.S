// Fiber context switch for ARMv7-M (Thumb-2, AAPCS). See runtime/fiber.hpp.
//
// Only callee-saved state is switched: r4-r11 and the return address, plus s16-s31 when the
// hard-float ABI is in use. A saved context, from the stack pointer up:
//     [s16-s31 if VFP] [r4] [r5] ... [r11] [pc]

    .syntax unified
    .thumb
    .text

// void amb_fiber_switch(void** save /* r0 */, void* next /* r1 */)
    .globl amb_fiber_switch
    .type amb_fiber_switch, %function
    .thumb_func
    .p2align 2
amb_fiber_switch:
    push {r4-r11, lr}
#if defined(__ARM_PCS_VFP)
    vpush {s16-s31}
#endif
    mov r2, sp
    str r2, [r0]
    mov sp, r1
#if defined(__ARM_PCS_VFP)
    vpop {s16-s31}
#endif
    pop {r4-r11, pc}
    .size amb_fiber_switch, .-amb_fiber_switch

// First code a new fiber runs: entry (r5) with its argument (r4). entry never returns.
    .type amb_fiber_trampoline, %function
    .thumb_func
    .p2align 2
amb_fiber_trampoline:
    mov r0, r4
    blx r5
    udf #0
    .size amb_fiber_trampoline, .-amb_fiber_trampoline

// void* amb_fiber_make_context(void* top /* r0 */, void (*entry)(void*) /* r1 */,
//                              void* argument /* r2 */)
    .globl amb_fiber_make_context
    .type amb_fiber_make_context, %function
    .thumb_func
    .p2align 2
amb_fiber_make_context:
    bic r0, r0, #7          // AAPCS: 8-byte aligned stack once the context is popped
    sub r0, r0, #36         // r4-r11 and pc
    str r2, [r0, #0]        // r4: argument
    str r1, [r0, #4]        // r5: entry
    movs r3, #0
    str r3, [r0, #8]        // r6
    str r3, [r0, #12]       // r7
    str r3, [r0, #16]       // r8
    str r3, [r0, #20]       // r9
    str r3, [r0, #24]       // r10
    str r3, [r0, #28]       // r11
    ldr r3, =amb_fiber_trampoline   // a Thumb function: the address carries bit 0 for `pop {pc}`
    str r3, [r0, #32]
#if defined(__ARM_PCS_VFP)
    sub r0, r0, #64         // s16-s31, zero is a valid initial value
    movs r3, #0
    movs r1, #0
1:  str r3, [r0, r1]
    adds r1, r1, #4
    cmp r1, #64
    bne 1b
#endif
    bx lr
    .size amb_fiber_make_context, .-amb_fiber_make_context
    .ltorg
