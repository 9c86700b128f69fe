/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hodp: trace events of ODP MRs (tracefs events/hodp/): a page fault
 * resolved through the mirror, a QP's send queue stopping for a fault
 * event, the access continuing after a fault, and an invalidation reaching
 * an MR. Defined in hodp_trace.c.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hodp

#if !defined(_HODP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HODP_TRACE_H

#include <linux/tracepoint.h>

#include "hodp.h"

/* A fault of @mr at @uaddr, over [start, end): what it returned. */
TRACE_EVENT(hodp_odp_fault,
	    TP_PROTO(const struct hodp_mr *mr, unsigned long uaddr,
		     unsigned long start, unsigned long end, bool write,
		     int ret),
	    TP_ARGS(mr, uaddr, start, end, write, ret),
	    TP_STRUCT__entry(__string(dev, dev_name(&mr->dev->ibdev.dev))
			     __field(u32, lkey)
			     __field(unsigned long, uaddr)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(bool, write)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(dev, dev_name(&mr->dev->ibdev.dev));
			   __entry->lkey = mr->ibmr.lkey;
			   __entry->uaddr = uaddr;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->write = write;
			   __entry->ret = ret;),
	    TP_printk("%s lkey 0x%x uaddr 0x%lx %s pages 0x%lx-0x%lx (%lu) ret %d",
		      __get_str(dev), __entry->lkey, __entry->uaddr,
		      __entry->write ? "write" : "read", __entry->start,
		      __entry->end,
		      (__entry->end - __entry->start) >> PAGE_SHIFT,
		      __entry->ret)
);

/* @qp's send queue stops for a fault event: @ev missed in its MR. */
TRACE_EVENT(hodp_odp_fault_event,
	    TP_PROTO(const struct hodp_qp *qp, const struct hodp_fault_ev *ev),
	    TP_ARGS(qp, ev),
	    TP_STRUCT__entry(__string(dev, dev_name(&qp->dev->ibdev.dev))
			     __field(u32, qpn)
			     __field(u32, lkey)
			     __field(u64, addr)
			     __field(u64, end)
			     __field(bool, write)),
	    TP_fast_assign(__assign_str(dev, dev_name(&qp->dev->ibdev.dev));
			   __entry->qpn = qp->qpn;
			   __entry->lkey = ev->mr->ibmr.lkey;
			   __entry->addr = ev->addr;
			   __entry->end = ev->end;
			   __entry->write = ev->write;),
	    TP_printk("%s qpn %u lkey 0x%x addr 0x%llx-0x%llx %s",
		      __get_str(dev), __entry->qpn, __entry->lkey,
		      __entry->addr, __entry->end,
		      __entry->write ? "write" : "read")
);

/*
 * A fault event at @addr of @mr may wait on a file system: it moved to its
 * mirror's file lane, where it runs on or @waits for a place (hodp_fault.c).
 */
TRACE_EVENT(hodp_odp_fault_lane,
	    TP_PROTO(const struct hodp_mr *mr, u64 addr, bool waits),
	    TP_ARGS(mr, addr, waits),
	    TP_STRUCT__entry(__string(dev, dev_name(&mr->dev->ibdev.dev))
			     __field(u32, lkey)
			     __field(u64, addr)
			     __field(bool, waits)),
	    TP_fast_assign(__assign_str(dev, dev_name(&mr->dev->ibdev.dev));
			   __entry->lkey = mr->ibmr.lkey;
			   __entry->addr = addr;
			   __entry->waits = waits;),
	    TP_printk("%s lkey 0x%x addr 0x%llx file lane, %s",
		      __get_str(dev), __entry->lkey, __entry->addr,
		      __entry->waits ? "waits" : "runs")
);

/* After a resolved fault the access at @addr (of @mr's iova) goes on. */
TRACE_EVENT(hodp_odp_resume,
	    TP_PROTO(const struct hodp_mr *mr, u64 addr, bool write),
	    TP_ARGS(mr, addr, write),
	    TP_STRUCT__entry(__string(dev, dev_name(&mr->dev->ibdev.dev))
			     __field(u32, lkey)
			     __field(u64, addr)
			     __field(bool, write)),
	    TP_fast_assign(__assign_str(dev, dev_name(&mr->dev->ibdev.dev));
			   __entry->lkey = mr->ibmr.lkey;
			   __entry->addr = addr;
			   __entry->write = write;),
	    TP_printk("%s lkey 0x%x addr 0x%llx %s",
		      __get_str(dev), __entry->lkey, __entry->addr,
		      __entry->write ? "write" : "read")
);

/* An invalidation of [start, end) took @pages mirrored pages of @mr. */
TRACE_EVENT(hodp_odp_invalidate,
	    TP_PROTO(const struct hodp_mr *mr, unsigned long start,
		     unsigned long end, u64 pages, int event),
	    TP_ARGS(mr, start, end, pages, event),
	    TP_STRUCT__entry(__string(dev, dev_name(&mr->dev->ibdev.dev))
			     __field(u32, lkey)
			     __field(unsigned long, start)
			     __field(unsigned long, end)
			     __field(u64, pages)
			     __field(int, event)),
	    TP_fast_assign(__assign_str(dev, dev_name(&mr->dev->ibdev.dev));
			   __entry->lkey = mr->ibmr.lkey;
			   __entry->start = start;
			   __entry->end = end;
			   __entry->pages = pages;
			   __entry->event = event;),
	    TP_printk("%s lkey 0x%x range 0x%lx-0x%lx mirrored pages %llu event %d",
		      __get_str(dev), __entry->lkey, __entry->start,
		      __entry->end, __entry->pages, __entry->event)
);

#endif /* _HODP_TRACE_H */

/*
 * Out of tree too: define_trace.h includes this header again as
 * "./<TRACE_INCLUDE_FILE>.h", found through the -I of this directory that
 * the Kbuild gives hodp_trace.o.
 */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE hodp_trace
#include <trace/define_trace.h>
