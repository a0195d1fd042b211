#include "iommu/iommu.h"
#include "iommu/walk.h"
