#include "tools/platform/platform.h"
#include "platform.h"
