#include "iommu/walk.h"
#include "sim/log.c"
#include "tools/platform/platform.h"
