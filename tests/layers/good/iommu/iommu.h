#include "iommu/walk.h"
