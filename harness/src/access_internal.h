/* SPDX-License-Identifier: MIT */
/* The access layer's internals (access.c) and the one interface between it and the callbacks
 * that `lifeguard cc` links into a program (access_rt.c, liblifeguard-access.a). Not part of
 * the public API. */
#ifndef LIFEGUARD_ACCESS_INTERNAL_H
#define LIFEGUARD_ACCESS_INTERNAL_H

/* (access_rt.c is no layer of the library: it is built without LG_LAYER) */
#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_ACCESS)
#error "an access-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

/* What an instrumented access is: its size in bytes (1..16) in the low byte, and flags. */
#define LG_ACCESS_SIZE 0xffu
#define LG_ACCESS_WRITE 0x100u
#define LG_ACCESS_ATOMIC 0x200u
#define LG_ACCESS_CAS 0x400u /* a compare-exchange: it may write, or only read */

/* Called before the access of `info` at `addr`; may make it a scheduling point (returns when
 * the calling thread runs again). */
typedef void lg_access_fn(const volatile void *addr, unsigned info);

/* The function each instrumented module's __tsan_init looks up (dlsym, RTLD_DEFAULT) and calls
 * with the address of its hook: the preload library writes lg_access_fn there when explore is
 * on in this process (at once, or at its start-up if that comes later), and never otherwise,
 * so the hook stays NULL and an access costs one load and one branch. */
#define LG_ACCESS_REGISTER "lifeguard_access_register"
typedef void lg_access_register_fn(lg_access_fn **slot);

#endif
