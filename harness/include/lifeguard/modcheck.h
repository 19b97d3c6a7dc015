/* modcheck: faults caused by unloading a module that is still in use.
 *
 * Linked in, modcheck takes the place of dlopen and dlclose (and of pthread_key_create,
 * pthread_key_delete, timer_create and timer_delete, to know what points into a module).
 * At each dlclose it checks whether the module was really unmapped and, if it was not, says
 * why (RTLD_NODELETE, another reference). If it was, it reports at once what still uses the
 * old range:
 *   unload-while-running          an actor or thread whose code or return addresses are in it
 *   unload-with-pending-callback  a pthread key destructor, a signal handler, a SIGEV_THREAD
 *                                 timer or a callback held for it (lg_modcheck_hold) in it
 * and keeps an inaccessible placeholder over the old range, so that a late call or read is
 * reported as `use-after-unload` with module, offset and function (where AddressSanitizer
 * alone says SEGV in <unknown module>). Under lg_sched the unload is a scheduling point.
 *
 * LIFEGUARD_OPTIONS: modcheck=0 turns it all off; modcheck_census=0 keeps only the
 * placeholders (the late call itself is then the report); modcheck_placeholders=N bounds the
 * ranges kept (oldest released first; 0 = none). */
#ifndef LIFEGUARD_MODCHECK_H
#define LIFEGUARD_MODCHECK_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_MODCHECK)
#error "a modcheck-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A callback that a host keeps for a module (a timer, an event handler): while it is held,
 * unloading the module that contains `fn` is reported. `what` names it in the report
 * ("timer", ...). Returns a token for lg_modcheck_release (0 when nothing was recorded). */
unsigned lg_modcheck_hold(const void *fn, const char *what);
void lg_modcheck_release(unsigned token);
/* The host is about to call the callback it holds under `token`: if the module it was held
 * in has been unloaded and no placeholder will catch the call, it is reported here as
 * call-after-unload (the call would run whatever is mapped there now). */
void lg_modcheck_call(unsigned token);

typedef struct lg_modcheck_stats {
  unsigned long loads;          /* modules mapped by a dlopen modcheck saw */
  unsigned long unloads;        /* dlcloses that unmapped the module */
  unsigned long retained;       /* last dlcloses that left the module mapped */
  unsigned long placeholders;   /* placeholders in place now */
  unsigned long placeholder_misses; /* old ranges already taken by something else */
} lg_modcheck_stats;

void lg_modcheck_stats_get(lg_modcheck_stats *out);

#ifdef __cplusplus
}
#endif
#endif
