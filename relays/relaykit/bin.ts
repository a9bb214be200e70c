#!/usr/bin/env node
import { runFromArgv } from './main.js'

runFromArgv(process.argv)
