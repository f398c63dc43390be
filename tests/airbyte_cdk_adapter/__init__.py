"""Airbyte's standard connector tests (airbyte-cdk ``SourceTestSuiteBase``) on the Airbyte face.

Everything here runs inside the CDK's virtualenv (``.venv-airbyte-cdk``, pins in
``tests/clients/airbyte-cdk.txt``), never in the tap's: ``tests/test_airbyte_cdk.py``
starts the emulator, writes the scenario configs and runs ``standard_suite.py`` there.
The suite drives a CDK source class; :mod:`.source` is one that runs the real
``source-indigo-analytics`` executable for each command and passes its lines through.
"""
