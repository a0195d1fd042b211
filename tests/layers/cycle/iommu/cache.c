#include "iommu/cache.h"
#include "iommu/walk.h"
