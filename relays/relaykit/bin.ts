#!/usr/bin/env node
import { runStandalone } from '../../shared/run-standalone.js'
import { isSea } from '../../shared/sea.js'
import { dispatch, invokedName } from './main.js'

const sea = isSea()
void runStandalone(
  (args, io) => dispatch(invokedName(process.argv, process.execPath, sea), args, io, { executable: process.execPath, sea }),
  process.argv.slice(2),
)
