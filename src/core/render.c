#include "kratixfs/render.h"
