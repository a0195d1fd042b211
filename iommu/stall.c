/*
 * stall.c - the SMMUv3 stall model for untranslated DMA. A translation
 * fault that would be recoverable holds the transaction under a stall tag
 * and writes an event record with STALL and STAG set; the host answers
 * with CMD_RESUME carrying the STAG: RETRY translates again, ABORT fails
 * the transaction (Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c:
 * arm_smmu_handle_evt, arm_smmu_page_response; the host maps a stall event
 * to a fault group of one, ioasid/host.c). An event lost to a full event
 * queue terminates the transaction [I].
 */
#include "iommu/stall.h"

void iommu_stall_init(iommu_stall_t *st, sim_t *sim, iommu_fq_t *fq,
                      sim_time_t write_delay)
{
    st->sim = sim;
    st->fq = fq;
    st->write_delay = write_delay;
    for (unsigned i = 0; i < IOMMU_STALL_SLOTS; i++)
        st->free[i] = (uint16_t)(IOMMU_STALL_SLOTS - 1 - i);
    st->nfree = IOMMU_STALL_SLOTS;
}

/* Free a stall tag. */
static void stall_release(iommu_stall_t *st, uint16_t stag)
{
    st->held[stag] = NULL;
    st->free[st->nfree++] = stag;
}

/* The stall event lands (after write_delay): report it, or, when the
 * queue overflowed, terminate the transaction. */
static void ev_stall_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_stall_t *st = opaque;
    void *txn = sim_arg_ptr(arg);
    iommu_fault_rec_t f;
    st->port.describe(st->port.opaque, txn, &f);
    f.stall = true;
    if (iommu_fq_record(st->fq, &f)) {
        sim_span_mark(f.span, st->stage_page_req, sim_now(sim));
        return;
    }
    stall_release(st, f.stag);
    st->port.finish(st->port.opaque, txn, false);
}

uint16_t iommu_stall_hold(iommu_stall_t *st, void *txn)
{
    uint16_t stag = st->free[--st->nfree];
    st->held[stag] = txn;
    st->s.stalled->value++;
    sim_schedule(st->sim, st->write_delay, ev_stall_write, st,
                 sim_ptr_arg(txn));
    return stag;
}

bool iommu_stall_resume(iommu_stall_t *st, uint16_t stag, bool retry)
{
    void *txn = stag < IOMMU_STALL_SLOTS ? st->held[stag] : NULL;
    if (!txn)
        return false;
    stall_release(st, stag);
    st->s.resumed->value++;
    iommu_fault_rec_t f;
    st->port.describe(st->port.opaque, txn, &f);
    sim_span_mark(f.span, st->stage_response, sim_now(st->sim));
    st->port.finish(st->port.opaque, txn, retry);
    return true;
}
