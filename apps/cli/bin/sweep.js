#!/usr/bin/env node
// The CLI is TypeScript run by Node's type stripping (Node ≥ 22.6); see README.
import '../src/main.ts'
