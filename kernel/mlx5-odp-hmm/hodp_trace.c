// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the trace events of hodp_trace.h, defined here once.
 */
#define CREATE_TRACE_POINTS
#include "hodp_trace.h"
