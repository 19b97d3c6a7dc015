/* SPDX-License-Identifier: MIT */
/* The signal layer's internals (signal.c): lifeguard's one SIGSEGV/SIGBUS dispatcher. Above
 * the report layer (a fault taken while the thread reports ends with one line; an exit
 * waits for the verdict on a fault being classified). The detectors and the scheduler, all
 * higher, register with it; it calls nothing of theirs by name. Not part of the public API. */
#ifndef LIFEGUARD_SIGNAL_INTERNAL_H
#define LIFEGUARD_SIGNAL_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SIGNAL)
#error "a signal-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include "internal.h"

#include <signal.h>

/* The real-time signal modcheck's census probes threads with. The dispatcher blocks it while
 * it classifies a fault (a thread waiting there for a census publishes its fault context
 * instead); nothing else in lifeguard uses it. */
#define LG_SIGNAL_PROBE (SIGRTMAX - 3)

/* A detector's classifier: called for each kernel-generated SIGSEGV/SIGBUS, in slot order.
 * Reports and does not return when it recognises the fault; returns otherwise. */
typedef void (*lg__fault_classifier)(int sig, siginfo_t *si, void *uc);
typedef enum lg__classifier_slot {
  LG_CLASSIFIER_MODCHECK, /* a module being unloaded, an unloaded module's placeholder */
  LG_CLASSIFIER_PAGEHEAP, /* guard pages, freed blocks */
  LG_CLASSIFIER__COUNT
} lg__classifier_slot;

/* Puts `fn` in `slot` (async-signal-safe to read; a later call replaces it). */
LG_HIDDEN void lg__signal_set_classifier(lg__classifier_slot slot, lg__fault_classifier fn);

/* Called when a SIGSEGV/SIGBUS nobody handled is about to end the process (the scheduler
 * writes the running execution's schedule). Must be async-signal-safe. */
typedef void (*lg__fault_dying_hook)(int sig);
LG_HIDDEN void lg__signal_set_dying_hook(lg__fault_dying_hook fn);

/* Installs the dispatcher (once; later calls return at once). Detectors call it when they
 * first need their faults explained, after registering their classifier; the interposed
 * sigaction/signal call it when the program sets a handler (handle_segv=1). */
LG_HIDDEN void lg__signal_install(void);

#endif
